package web

import (
	"embed"
	"mime"
	"path"

	"github.com/gofiber/fiber/v2"
)

// static holds the stylesheet and scripts the pages link: the Content-
// Security-Policy allows only the app's own files, so nothing comes from
// another origin. htmx.min.js and sse.js are htmx 2 and its SSE extension,
// copied from their npm packages (see static/VERSIONS).
//
//go:embed static/*.css static/*.js static/*.svg
var static embed.FS

func staticFile(c *fiber.Ctx) error {
	name := c.Params("name")
	body, err := static.ReadFile("static/" + path.Base(name))
	if err != nil || path.Base(name) != name {
		return fiber.ErrNotFound
	}
	c.Set(fiber.HeaderContentType, mime.TypeByExtension(path.Ext(name)))
	c.Set(fiber.HeaderCacheControl, "public, max-age=3600")
	return c.Send(body)
}
