package placement

import "testing"

// TestPartitionMatchesJava checks the hash against values Java computes.
func TestPartitionMatchesJava(t *testing.T) {
	// "polygenelubricants".hashCode() is Integer.MIN_VALUE; Utils.abs maps it to 0.
	if p := Partition("polygenelubricants", 50); p != 0 {
		t.Fatalf("got %d", p)
	}
	// "hello".hashCode() == 99162322.
	if p := Partition("hello", 50); p != 99162322%50 {
		t.Fatalf("got %d", p)
	}
	// "my-txn".hashCode() = -1061187895 → abs % 50 = 45.
	if p := Partition("my-txn", 50); p != 45 {
		t.Fatalf("got %d", p)
	}
	// "Aa" and "BB" collide in Java.
	if Partition("Aa", 50) != Partition("BB", 50) {
		t.Fatal("Aa/BB")
	}
	// A supplementary character hashes as its UTF-16 surrogate pair:
	// "😀".hashCode() == 0xD83D*31 + 0xDE00 == 1772899.
	if p := Partition("😀", 1<<30); p != 1772899 {
		t.Fatalf("got %d", p)
	}
}
