module github.com/twimlbin/twimlbin

go 1.26

require github.com/cbroglie/mustache v1.4.2

require (
	github.com/stretchr/testify v1.12.1
	go.yaml.in/yaml/v3 v3.0.5 // indirect
)
