package config

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/knadh/koanf/v2"
)

// fileSuffix turns a secret's key into the key naming a file that holds it:
// postgres.dsn_file, APP_POSTGRES_DSN_FILE.
const fileSuffix = "_file"

// maxFileSize bounds what is read for a secret or a PEM file, so that a
// path like /dev/zero fails rather than filling memory.
const maxFileSize = 1 << 20

// secretKeys are the settings that may instead be read from a file, as
// container platforms mount secrets.
func secretKeys() []string {
	return []string{"postgres.dsn", "postgres.direct_dsn", "kafka.sasl_password", "http.basic_auth_users"}
}

// layer is one source of settings above the defaults.
type layer struct {
	file string // the config file's path, when the layer is the file
	env  bool   // the layer is the environment
	k    *koanf.Koanf
}

// resolveSecretFiles sets each secret whose winning form is its _file key to
// the content of that file. The rule:
//
//   - Within one layer (the config file, or the environment) a secret may be
//     given as the key or as its _file, not both: that is an error naming both.
//   - Across layers the usual precedence holds whatever the form: defaults <
//     file < environment. APP_POSTGRES_DSN_FILE beats postgres.dsn in the
//     file, and APP_POSTGRES_DSN beats postgres.dsn_file in the file.
//   - Only the winning file is read. Its content is the value, less one
//     trailing newline (\n or \r\n); an empty file is an error.
//   - A relative path is taken from the working directory, as for the TLS
//     files.
//
// Errors name the key and the path, never the content.
func resolveSecretFiles(k *koanf.Koanf, layers []layer) error {
	for _, key := range secretKeys() {
		fileKey := key + fileSuffix
		for i := len(layers) - 1; i >= 0; i-- {
			l := layers[i]
			plain, viaFile := l.k.Exists(key), l.k.Exists(fileKey)
			switch {
			case plain && viaFile && l.env:
				return bad(key, "both %s and %s are set; set one", EnvName(key), EnvName(fileKey))
			case plain && viaFile:
				return bad(key, "%s sets both %s and %s; set one", l.file, key, fileKey)
			case viaFile:
				value, err := readSecret(fileKey, strings.TrimSpace(l.k.String(fileKey)))
				if err != nil {
					return err
				}
				if err := k.Set(key, value); err != nil {
					return bad(key, "cannot set it from %s", fileKey)
				}
			}
			if plain || viaFile {
				break
			}
		}
	}
	return nil
}

// readSecret is the content of the file at path, less one trailing newline.
func readSecret(key, path string) (string, error) {
	if path == "" {
		return "", bad(key, "is empty; want the path of a file")
	}
	b, err := readFile(key, path)
	if err != nil {
		return "", err
	}
	v := string(b)
	switch {
	case strings.HasSuffix(v, "\r\n"):
		v = v[:len(v)-2]
	case strings.HasSuffix(v, "\n"):
		v = v[:len(v)-1]
	}
	if v == "" {
		// An empty users file would turn sign-in off without a word.
		return "", bad(key, "%q is empty", path)
	}
	return v, nil
}

// readFile reads the file at path for key; an error names both, and the
// reason without repeating the path.
func readFile(key, path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, bad(key, "cannot read %q: %v", path, reason(err))
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, bad(key, "cannot read %q: %v", path, reason(err))
	}
	if len(b) > maxFileSize {
		return nil, bad(key, "%q is larger than %d bytes", path, maxFileSize)
	}
	return b, nil
}

func reason(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
