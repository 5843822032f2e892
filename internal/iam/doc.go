// Package iam is Basalt's identity and access management service, the role of
// DC/OS's bouncer behind /acs/api/v1: local users with password hashes, service
// accounts that log in with a JWT signed by their own RSA key, groups, ACLs with
// DC/OS resource strings (dcos:adminrouter:service:marathon) and actions, and
// RS256 authentication tokens whose signing keys live in the store so that every
// master verifies every token.
//
// All state is kept in the store under "iam/" and mirrored in an immutable
// in-memory snapshot, refreshed by a watch, that serves the hot path
// (VerifyToken, Allowed) without store reads.
//
// The package must not route or proxy requests (Admin Router decides which
// paths need a token and passes the Principal in the request context), must not
// log passwords, tokens or private keys, and must not accept a token signed with
// anything but one of its own RS256 keys.
package iam
