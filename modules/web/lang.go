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

// switchHref is this page's path and query with lang set to other.
func switchHref(c *fiber.Ctx, other string) string {
	q := url.Values{}
	c.Context().QueryArgs().VisitAll(func(k, v []byte) {
		if string(k) != "lang" {
			q.Add(string(k), string(v))
		}
	})
	q.Set("lang", other)
	return herePath(c) + "?" + q.Encode()
}

// herePath is the path of the page being answered, for links back to it.
// When a route answered, it is the route's own pattern with its parameters
// filled in, whatever spelling the request used ("/ORDERS/x/" links to
// "/orders/x"). Without one (a 404, a 405, a 401 from the sign-in) Fiber
// reports the last middleware, mounted on "/" as the home page is; then, and
// for the home page, it is the request path made local. Either way it begins
// with exactly one "/".
func herePath(c *fiber.Ctx) string {
	pattern := c.Route().Path
	if pattern == "/" {
		return localPath(c.Path())
	}
	segs := strings.Split(pattern, "/")
	for i, s := range segs {
		if name, ok := strings.CutPrefix(s, ":"); ok {
			segs[i] = c.Params(strings.TrimSuffix(name, "?"))
		}
	}
	return localPath(strings.Join(segs, "/"))
}

// localPath makes a decoded path a link that stays on this site: its leading
// slashes and backslashes become one "/" (a browser reads "//host" and
// "/\host" as another host), and the rest is percent-encoded as a path, so a
// "\" inside becomes "%5C" and a control character cannot be dropped by the
// browser to join two slashes.
func localPath(p string) string {
	p = "/" + strings.TrimLeft(p, "/\\")
	return (&url.URL{Path: p}).EscapedPath()
}
