package controller

import (
	"crypto/x509"
	"net/http"
)

// hostFromTLS answers the host name inside the client certificate the TLS layer verified against
// the controller's CA: the only place a host's identity comes from when TLS is on. The CA signs
// client certificates for hosts only (pki.IssueHost); the controller's serving certificate is for
// server use and never verifies as a client's. It does not look at revocations: certHost does.
func hostFromTLS(r *http.Request) (string, bool) {
	cert := clientCert(r)
	if cert == nil {
		return "", false
	}
	name := cert.Subject.CommonName
	return name, name != ""
}

// clientCert answers the verified client certificate of the request, nil without one.
func clientCert(r *http.Request) *x509.Certificate {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return nil
	}
	return r.TLS.VerifiedChains[0][0]
}
