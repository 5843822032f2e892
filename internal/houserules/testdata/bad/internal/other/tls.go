package other

import "crypto/tls"

// Trusting breaks the TLS rule twice.
func Trusting() *tls.Config {
	c := &tls.Config{InsecureSkipVerify: true}
	return c
}

func alsoTrusting(c *tls.Config) {
	c.InsecureSkipVerify = true
}
