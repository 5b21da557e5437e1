// Package ui holds the <keys-manager> web component (plain JavaScript with
// its CSS inside, no build step) and serves it under a content-hashed name,
// for the httpadapter package and the demo page of cmd/keys.
package ui
