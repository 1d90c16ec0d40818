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

func serveOpenAPI(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, "application/yaml; charset=utf-8")
	return c.Send(openAPI)
}
