package order

// MaxUIDLen is the longest order uid accepted anywhere.
const MaxUIDLen = 64

// ValidUID reports whether s is 1 to 64 of A-Z a-z 0-9 _ -.
func ValidUID(s string) bool {
	if len(s) == 0 || len(s) > MaxUIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}
