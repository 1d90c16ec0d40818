package main

import (
	"testing"

	"go.uber.org/fx"

	"github.com/marketplace/orders/modules/config"
)

// TestGraphIsComplete proves every dependency of the real options is provided.
func TestGraphIsComplete(t *testing.T) {
	cfg, err := config.Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := fx.ValidateApp(Options(cfg)); err != nil {
		t.Fatal(err)
	}
}
