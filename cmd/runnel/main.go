// Command runnel is the Runnel broker and its admin verbs.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "runnel: not yet wired")
	os.Exit(2)
}
