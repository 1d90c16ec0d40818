package web

import (
	_ "embed"

	"github.com/gofiber/fiber/v2"
)

// openAPI documents every JSON endpoint; a test checks it against the router
// and the answers.
//
//go:embed openapi.yaml
var openAPI []byte

// openAPIType is text/yaml, not the registered application/yaml: a browser
// shows text/* where it downloads application/yaml (Chromium does), and
// tools still read it as YAML by the "yaml" in it and the path's .yaml.
const openAPIType = "text/yaml; charset=utf-8"

func serveOpenAPI(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, openAPIType)
	c.Set(fiber.HeaderContentDisposition, "inline")
	return c.Send(openAPI)
}
