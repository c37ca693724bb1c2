// Package layering holds no code, only a test: TestLayers reads the
// module's import graph with go list and fails when a package imports one
// of a higher layer, when a package that is not test support imports test
// support (testsupport/...), when a package under internal/ imports a
// package of the project outside internal/, or when a package belongs to
// no layer. The layers are in layering_test.go and docs/development.md
// (Repository layout); a new package is added to both.
//
// Concurrency: nothing to share; the test runs go list once.
package layering
