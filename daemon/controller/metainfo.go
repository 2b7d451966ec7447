package controller

import (
	"errors"

	"dist/core/content"
)

// parseMetainfo reads a bencoded single-file metainfo: dist carries exactly one file per distribution.
func parseMetainfo(b []byte) (content.Meta, error) {
	m, err := content.Parse(b)
	if err != nil {
		return content.Meta{}, err
	}
	if m.Size <= 0 {
		return content.Meta{}, errEmptyMetainfo
	}
	return m, nil
}

var errEmptyMetainfo = errors.New("metainfo has no file length")
