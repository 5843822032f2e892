package records

import (
	"crypto/sha1"
	"encoding/binary"
)

// zbase32Alphabet is z-base-32's alphabet (Zooko's human-oriented base 32).
const zbase32Alphabet = "ybndrfg8ejkmcpqxot1uwisza345h769"

// TaskHash is the 5-character part of a task's canonical name
// ("web-<hash>-s3.marathon.mesos."): the first five characters of the
// z-base-32 encoding of SHA-1(taskID), as Mesos-DNS computes it. Five
// characters are 25 bits, all within the first four bytes of the digest.
func TaskHash(taskID string) string {
	h := taskHash(taskID)
	return string(h[:])
}

func taskHash(taskID string) [5]byte {
	sum := sha1.Sum([]byte(taskID))
	v := binary.BigEndian.Uint32(sum[:4])
	var out [5]byte
	for i := range out {
		out[i] = zbase32Alphabet[(v>>(27-5*i))&31]
	}
	return out
}
