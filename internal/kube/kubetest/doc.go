// Package kubetest starts a real Kubernetes API server for tests: kube-apiserver v1.37.1
// (built by `make kube`) over an embedded etcd (internal/store/embed), both on 127.0.0.1
// only, with a throwaway CA and serving certificate, a service-account signing key and an
// admin bearer token, all in the test's temporary directory. It returns a kubeconfig and
// runs kubectl against it.
//
// Binaries are looked up in $TRELLIS_KUBE_BIN, else in
// ${TRELLIS_KUBE_CACHE:-/var/cache/trellis/kube}/v1.37.1/bin; when they are missing the test
// is skipped with a message naming `make kube`.
//
// Invariants: every process it starts is stopped and every file it writes is removed in
// t.Cleanup; nothing listens on anything but 127.0.0.1; kubectl runs with HOME set to the
// temporary directory, so the user's ~/.kube is neither read nor written.
//
// It must never be imported by non-test code.
package kubetest
