module porcupine_register

go 1.19

require github.com/anishathalye/porcupine v0.0.0

// Point this at a checkout of porcupine (e.g. `go mod edit -replace
// github.com/anishathalye/porcupine=/path/to/porcupine`).
replace github.com/anishathalye/porcupine => ../../../../porcupine
