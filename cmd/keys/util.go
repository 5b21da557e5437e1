package main

import (
	"strings"
	"time"
)

func at(args []string, i int) string {
	if i < len(args) {
		return args[i]
	}
	return ""
}

// oneLine keeps an error message to one line for standard error.
// run prefixes "keys: " itself, so the library's own prefix is dropped.
func oneLine(err error) string {
	return strings.TrimPrefix(strings.Join(strings.Fields(err.Error()), " "), "keys: ")
}

func nowUTC() time.Time { return time.Now().UTC() }
