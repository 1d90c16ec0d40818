package order

import (
	"errors"
	"fmt"
	"strings"
)

// ErrNotFound means no order is stored under the uid asked for.
var ErrNotFound = errors.New("order not found")

// Kind names why a message was rejected; the values are the DLQ's x-error-kind.
type Kind string

// The kinds of rejection of the contract.
const (
	KindDecode     Kind = "decode"
	KindValidation Kind = "validation"
	KindConflict   Kind = "conflict"
)

// FieldError is one problem with one field, named by its JSON path
// (for example "items[0].total_price").
type FieldError struct {
	Field   string
	Message string
}

func (e FieldError) String() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

// RejectError says why a message is not an order that can be stored. It is
// permanent: retrying the same bytes gives the same answer.
type RejectError struct {
	Kind     Kind
	Problems []FieldError
}

func (e *RejectError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.String()
	}
	return fmt.Sprintf("%s: %s", e.Kind, strings.Join(parts, "; "))
}

// Reason is the text for a person: every problem, without the kind prefix.
func (e *RejectError) Reason() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.String()
	}
	return strings.Join(parts, "; ")
}

func reject(kind Kind, field, format string, args ...any) *RejectError {
	return &RejectError{Kind: kind, Problems: []FieldError{{Field: field, Message: fmt.Sprintf(format, args...)}}}
}
