package sasl

import "testing"

// The parsers see bytes from unauthenticated clients: they must never
// panic, and a SCRAM session must never authenticate on garbage.
func FuzzClientMessages(f *testing.F) {
	f.Add([]byte("n,,n=user,r=rOprNGfwEbeRWgbNEkqO"), []byte("c=biws,r=rOprNGfwEbeRWgbNEkqO,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="))
	f.Add([]byte("\x00alice\x00secret"), []byte("y,a=x=2C,n=x=3D,r=a,ext=1"))
	cred, err := NewScramCredential(ScramSHA256, "pw", 4096)
	if err != nil {
		f.Fatal(err)
	}
	srv, err := NewScramServer(ScramSHA256, func(string) (ScramCredential, bool) { return cred, true }, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, first, final []byte) {
		ParsePlain(first)
		ParseScramClientFirst(string(first))
		ParseScramClientFinal(string(final))
		ParseJAAS(string(first))
		if _, done, err := NewPlain(PlainUsers{"alice": "secret"}).Step(first); done && (err != nil || string(first) != "\x00alice\x00secret" && string(first) != "alice\x00alice\x00secret") {
			t.Fatalf("PLAIN accepted %q", first)
		}
		s := srv.NewSession()
		if _, _, err := s.Step(first); err != nil {
			return
		}
		if _, done, _ := s.Step(final); done {
			t.Fatalf("SCRAM authenticated on %q %q", first, final)
		}
	})
}
