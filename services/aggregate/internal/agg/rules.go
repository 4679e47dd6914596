package agg

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// DefaultWindowSeconds applies when rules_json is empty or has no windowSeconds (§4.3).
const DefaultWindowSeconds = 60

// maxSafeInteger is 2^53 − 1, the largest windowSeconds the rules accept.
const maxSafeInteger = 1<<53 - 1

// WindowSeconds reads windowSeconds from a rules file's JSON text. The rules stage has
// already validated it; this only refuses what the aggregate stage cannot use.
func WindowSeconds(rulesJSON string) (int64, error) {
	if len(bytes.TrimSpace([]byte(rulesJSON))) == 0 {
		return DefaultWindowSeconds, nil
	}
	var raw map[string]json.RawMessage
	d := json.NewDecoder(bytes.NewReader([]byte(rulesJSON)))
	if err := d.Decode(&raw); err != nil {
		return 0, fmt.Errorf("rules_json is not a JSON object: %v", err)
	}
	v, ok := raw["windowSeconds"]
	if !ok || string(bytes.TrimSpace(v)) == "null" {
		return DefaultWindowSeconds, nil
	}
	v = bytes.TrimSpace(v)
	var num json.Number
	if c := v[0]; (c != '-' && (c < '0' || c > '9')) || json.Unmarshal(v, &num) != nil { // not a JSON number
		return 0, fmt.Errorf(`"windowSeconds" must be a positive integer, got %s`, v)
	}
	if n, err := strconv.ParseInt(num.String(), 10, 64); err == nil {
		if n < 1 || n > maxSafeInteger {
			return 0, fmt.Errorf(`"windowSeconds" must be a positive integer up to 2^53-1, got %s`, num)
		}
		return n, nil
	}
	// JSON allows 60.0 or 6e1 for the integer 60, as the rules stage's JSON.parse does.
	f, err := strconv.ParseFloat(num.String(), 64)
	if err != nil || f != math.Trunc(f) || f < 1 || f > maxSafeInteger {
		return 0, fmt.Errorf(`"windowSeconds" must be a positive integer up to 2^53-1, got %s`, num)
	}
	return int64(f), nil
}
