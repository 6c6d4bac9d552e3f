package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

// probe GETs a URL and succeeds on 200: the health check of an image that
// holds nothing but this binary (no curl, no shell), as
// `runnel probe http://127.0.0.1:9644/readyz`. The body goes to stdout.
func probe(args []string) error {
	if len(args) != 1 {
		return errors.New("usage: runnel probe URL")
	}
	cl := &http.Client{Timeout: 5 * time.Second}
	resp, err := cl.Get(args[0])
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	os.Stdout.Write(body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", args[0], resp.Status)
	}
	return nil
}
