package web

import (
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/marketplace/orders/views"
)

// langCookie remembers the language a viewer chose with the switch.
const langCookie = "lang"

// langOf picks the page language: ?lang= first (the switch), then the
// cookie the switch set, then Accept-Language; English otherwise.
func langOf(c *fiber.Ctx) string {
	if l := knownLang(c.Query("lang")); l != "" {
		return l
	}
	if l := knownLang(c.Cookies(langCookie)); l != "" {
		return l
	}
	if c.AcceptsLanguages(views.LangEN, views.LangRU) == views.LangRU {
		return views.LangRU
	}
	return views.LangEN
}

func knownLang(s string) string {
	switch strings.ToLower(s) {
	case views.LangEN:
		return views.LangEN
	case views.LangRU:
		return views.LangRU
	}
	return ""
}

// pageOf is what every page shares: its language (remembered in a cookie
// when the switch chose it) and the link to the same page in the other one.
func pageOf(c *fiber.Ctx, query string) views.Page {
	lang := langOf(c)
	if l := knownLang(c.Query("lang")); l != "" {
		c.Cookie(&fiber.Cookie{
			Name: langCookie, Value: l, Path: "/", MaxAge: int((365 * 24 * time.Hour).Seconds()),
			SameSite: fiber.CookieSameSiteLaxMode, HTTPOnly: true,
		})
	}
	other, label := views.LangRU, "Русский"
	if lang == views.LangRU {
		other, label = views.LangEN, "English"
	}
	return views.Page{
		Lang: lang, Query: query,
		SwitchHref: switchHref(c, other), SwitchLabel: label, SwitchLang: other,
	}
}

// switchHref is the current path and query with lang set to other.
func switchHref(c *fiber.Ctx, other string) string {
	q := url.Values{}
	c.Context().QueryArgs().VisitAll(func(k, v []byte) {
		if string(k) != "lang" {
			q.Add(string(k), string(v))
		}
	})
	q.Set("lang", other)
	path := (&url.URL{Path: c.Path()}).EscapedPath()
	return path + "?" + q.Encode()
}
