package engine_test

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/twimlbin/twimlbin/engine"
)

// TestReadmeListsEveryCode keeps the README's table of codes in step with
// the codes the engine reports.
func TestReadmeListsEveryCode(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	for _, c := range engine.Codes {
		assert.Contains(t, string(readme), "| "+string(c.Code)+" | "+c.Severity.String()+" |", "README's table of codes lacks %s", c.Code)
	}
	seen := map[engine.Code]bool{}
	for _, c := range engine.Codes {
		assert.False(t, seen[c.Code], "%s listed twice", c.Code)
		seen[c.Code] = true
		assert.True(t, strings.HasPrefix(string(c.Code), "TB") || len(c.Code) == 5, "%s is neither Twilio's nor twimlbin's", c.Code)
	}
}
