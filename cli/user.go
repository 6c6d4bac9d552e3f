package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
)

// parseMechanism reads SCRAM-SHA-256 or SCRAM-SHA-512.
func parseMechanism(s string) (kadm.ScramMechanism, error) {
	switch strings.ToUpper(s) {
	case "SCRAM-SHA-256":
		return kadm.ScramSha256, nil
	case "SCRAM-SHA-512":
		return kadm.ScramSha512, nil
	}
	return 0, usagef("--mechanism %q: want SCRAM-SHA-256 or SCRAM-SHA-512", s)
}

type userResult struct {
	User  string `json:"user"`
	Error string `json:"error,omitempty"`
}

func (e *env) printUserResults(as kadm.AlteredUserSCRAMs) error {
	var rs []userResult
	nErr := 0
	for _, a := range as.Sorted() {
		if a.Err != nil {
			nErr++
		}
		rs = append(rs, userResult{User: a.User, Error: errText(a.Err, a.ErrMessage)})
	}
	if err := e.emit(nonNil(rs), func(w io.Writer) {
		t := newTable(w, "USER", "ERROR")
		for _, r := range rs {
			t.row(r.User, r.Error)
		}
		t.flush()
	}); err != nil {
		return err
	}
	return failed(nErr, len(rs), "users")
}

// userCreate creates a SCRAM credential, or replaces the user's password for
// that mechanism (AlterUserScramCredentials upserts). The password is a
// flag of its own, --new-password, because --password is the password this
// command authenticates with.
func userCreate(e *env, args []string) error {
	fs := e.flags()
	password := fs.String("new-password", "", "the user's password (required); - reads it from the first line of stdin, out of shell history and ps")
	mech := fs.String("mechanism", "SCRAM-SHA-512", "SCRAM-SHA-256 or SCRAM-SHA-512")
	iterations := fs.Int("iterations", 8192, "SCRAM iterations (Kafka accepts 4096 to 16384)")
	pos, err := e.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if *password == "-" {
		line, err := bufio.NewReader(e.io.Stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("reading the password from stdin: %w", err)
		}
		*password = strings.TrimRight(line, "\r\n")
	}
	if *password == "" {
		return usagef("--new-password is required")
	}
	m, err := parseMechanism(*mech)
	if err != nil {
		return err
	}
	adm, err := e.adm()
	if err != nil {
		return err
	}
	ctx, cancel := e.reqCtx()
	defer cancel()
	as, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: pos[0], Mechanism: m, Iterations: int32(*iterations), Password: *password}})
	if err != nil {
		return err
	}
	return e.printUserResults(as)
}

// userDelete deletes the given mechanism's credential, or by default every
// credential the user has.
func userDelete(e *env, args []string) error {
	fs := e.flags()
	mech := fs.String("mechanism", "", "only this mechanism's credential (default: all the user has)")
	users, err := e.parse(fs, args, 1, -1)
	if err != nil {
		return err
	}
	adm, err := e.adm()
	if err != nil {
		return err
	}
	ctx, cancel := e.reqCtx()
	defer cancel()
	var dels []kadm.DeleteSCRAM
	if *mech != "" {
		m, err := parseMechanism(*mech)
		if err != nil {
			return err
		}
		for _, u := range users {
			dels = append(dels, kadm.DeleteSCRAM{User: u, Mechanism: m})
		}
	} else {
		described, err := adm.DescribeUserSCRAMs(ctx, users...)
		if err != nil && len(described) == 0 {
			return err
		}
		for _, u := range users {
			d, ok := described[u]
			if !ok || d.Err != nil || len(d.CredInfos) == 0 {
				// Let the broker say what is wrong with this user
				// (RESOURCE_NOT_FOUND for an unknown one).
				dels = append(dels, kadm.DeleteSCRAM{User: u, Mechanism: kadm.ScramSha512})
				continue
			}
			for _, ci := range d.CredInfos {
				dels = append(dels, kadm.DeleteSCRAM{User: u, Mechanism: ci.Mechanism})
			}
		}
	}
	as, err := adm.AlterUserSCRAMs(ctx, dels, nil)
	if err != nil {
		return err
	}
	return e.printUserResults(as)
}

type userListItem struct {
	User       string          `json:"user"`
	Mechanisms []userMechanism `json:"mechanisms"`
	Error      string          `json:"error,omitempty"`
}

type userMechanism struct {
	Mechanism  string `json:"mechanism"`
	Iterations int32  `json:"iterations"`
}

func userList(e *env, args []string) error {
	fs := e.flags()
	users, err := e.parse(fs, args, 0, -1)
	if err != nil {
		return err
	}
	adm, err := e.adm()
	if err != nil {
		return err
	}
	ctx, cancel := e.reqCtx()
	defer cancel()
	described, err := adm.DescribeUserSCRAMs(ctx, users...)
	if err != nil && len(described) == 0 {
		return err
	}
	var items []userListItem
	nErr := 0
	for _, d := range described.Sorted() {
		it := userListItem{User: d.User, Mechanisms: []userMechanism{}, Error: errText(d.Err, d.ErrMessage)}
		if d.Err != nil {
			nErr++
		}
		for _, ci := range d.CredInfos {
			it.Mechanisms = append(it.Mechanisms, userMechanism{Mechanism: ci.Mechanism.String(), Iterations: ci.Iterations})
		}
		items = append(items, it)
	}
	if err := e.emit(nonNil(items), func(w io.Writer) {
		t := newTable(w, "USER", "MECHANISMS", "ERROR")
		for _, it := range items {
			var ms []string
			for _, m := range it.Mechanisms {
				ms = append(ms, fmt.Sprintf("%s(%d)", m.Mechanism, m.Iterations))
			}
			t.row(it.User, strings.Join(ms, ","), it.Error)
		}
		t.flush()
	}); err != nil {
		return err
	}
	return failed(nErr, len(items), "users")
}
