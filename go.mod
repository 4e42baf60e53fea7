module github.com/twimlbin/twimlbin

go 1.26

require github.com/cbroglie/mustache v1.4.2
