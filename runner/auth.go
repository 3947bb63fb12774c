package main

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// auth requires "Authorization: Bearer <token>". The token's SHA-256 is compared, in constant time,
// with the configured one (RUNNER_TOKEN's, or RUNNER_TOKEN_SHA256): a Kubernetes pod spec carries
// only the hash, so whoever reads the spec (an audit log, kubectl describe) cannot use it.
func (s *Server) auth(next http.Handler) http.Handler {
	want := s.cfg.TokenSHA256
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		got := sha256.Sum256([]byte(token))
		if !ok || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			writeError(w, http.StatusUnauthorized, "unauthorized")
			return
		}
		next.ServeHTTP(w, r)
	})
}
