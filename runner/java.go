package main

import (
	"regexp"
	"strings"
	"sync"
)

// Compiled on first use (see pyImport).
var (
	javaNoise = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`(?s)/\*.*?\*/|//[^\n]*|"""(?:\\.|[^\\])*?"""|"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'`)
	})
	javaToken = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`[A-Za-z_$][A-Za-z0-9_$]*|[{}()]`) })
)

// javaMainClass finds the top-level class that declares main, so the source file can be named after
// it and the source launcher runs it. A public class with main wins over others. Without any (e.g. a
// JDK 25 compact source file, "void main() {...}"), "Main".
func javaMainClass(src string) string {
	src = javaNoise().ReplaceAllString(src, " ")
	toks := javaToken().FindAllString(src, -1)
	depth := 0
	current, currentPublic := "", false
	found := ""
	for i, t := range toks {
		switch t {
		case "{":
			depth++
		case "}":
			depth--
		case "class", "interface", "enum", "record":
			if depth == 0 && i+1 < len(toks) && isJavaIdent(toks[i+1]) {
				current, currentPublic = toks[i+1], false
				for j := i - 1; j >= 0 && j >= i-4 && isJavaIdent(toks[j]); j-- {
					if toks[j] == "public" {
						currentPublic = true
					}
				}
			}
		case "main":
			if depth >= 1 && current != "" && i > 0 && toks[i-1] == "void" && i+1 < len(toks) && toks[i+1] == "(" {
				if currentPublic {
					return current
				}
				if found == "" {
					found = current
				}
			}
		}
	}
	if found != "" {
		return found
	}
	return "Main"
}

func isJavaIdent(t string) bool {
	return t != "" && !strings.ContainsAny(t[:1], "{}()")
}
