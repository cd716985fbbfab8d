package spec

import "strings"

// initialisms are ogen's naming rules (ogen/internal/naming), so GoName
// predicts the Go names ogen gives properties and schemas.
var initialisms = func() map[string]string {
	m := map[string]string{}
	for _, v := range []string{
		"ACL", "API", "ASCII", "AWS", "CPU", "CSS", "DNS", "EOF", "GB", "GUID",
		"HTML", "HTTP", "HTTPS", "ID", "IP", "JSON", "KB", "LHS", "MAC", "MB",
		"QPS", "RAM", "RHS", "RPC", "SLA", "SMTP", "SQL", "SSH", "SSO", "TLS",
		"TTL", "UI", "UID", "URI", "URL", "UTF8", "UUID", "VM", "XML", "XMPP",
		"XSRF", "XSS", "SMS", "CDN", "TCP", "UDP", "DC", "PFS", "P2P",
		"SHA256", "SHA1", "MD5", "SRP", "2FA", "OAuth", "OAuth2",
		"PNG", "JPG", "GIF", "MP4", "WEBP",
	} {
		m[strings.ToLower(v)] = v
	}
	return m
}()

// GoName is the Go name ogen gives a snake_case property: "tool_call_id" →
// "ToolCallID".
func GoName(snake string) string {
	var b strings.Builder
	for _, part := range strings.Split(snake, "_") {
		if part == "" {
			continue
		}
		if r, ok := initialisms[strings.ToLower(part)]; ok {
			b.WriteString(r)
			continue
		}
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String()
}
