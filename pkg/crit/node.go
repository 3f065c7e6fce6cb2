package crit

import "strconv"

// NodeKind tells which JSON value a Node holds.
type NodeKind uint8

// The JSON value kinds.
const (
	Null NodeKind = iota
	Bool
	Number
	String
	Array
	Object
)

func (k NodeKind) String() string {
	switch k {
	case Null:
		return "null"
	case Bool:
		return "boolean"
	case Number:
		return "number"
	case String:
		return "string"
	case Array:
		return "list"
	case Object:
		return "object"
	}
	return "NodeKind(" + strconv.Itoa(int(k)) + ")"
}

// Node is one JSON value. Objects keep their keys in order, because crit's
// output lists fields in field-number order and "extra" last; numbers keep
// their literal text, so 64-bit values pass through exactly.
//
// Line and Col (1-based, Col counted in characters) say where a parsed value
// starts; they are zero for values built in memory.
type Node struct {
	Kind NodeKind
	// Str is a String's text, or a Number's literal ("42", "-7", "1.5e3").
	Str   string
	Bool  bool
	Elems []*Node // Array
	Keys  []string
	Vals  []*Node // Object: Vals[i] is the value of Keys[i]

	Line, Col int
}

// NewObject returns an empty object.
func NewObject() *Node { return &Node{Kind: Object} }

// NewArray returns an array of elems.
func NewArray(elems ...*Node) *Node { return &Node{Kind: Array, Elems: elems} }

// NewString returns a string value.
func NewString(s string) *Node { return &Node{Kind: String, Str: s} }

// NewBool returns a boolean value.
func NewBool(b bool) *Node { return &Node{Kind: Bool, Bool: b} }

// NewInt returns a number holding v.
func NewInt(v int64) *Node { return &Node{Kind: Number, Str: strconv.FormatInt(v, 10)} }

// NewUint returns a number holding v.
func NewUint(v uint64) *Node { return &Node{Kind: Number, Str: strconv.FormatUint(v, 10)} }

// Set appends key with value v to an object. Keys are not checked for
// duplicates: the builders in this package add each key once.
func (n *Node) Set(key string, v *Node) {
	n.Keys = append(n.Keys, key)
	n.Vals = append(n.Vals, v)
}

// Get returns the value of key in an object, or nil.
func (n *Node) Get(key string) *Node {
	if n == nil || n.Kind != Object {
		return nil
	}
	for i, k := range n.Keys {
		if k == key {
			return n.Vals[i]
		}
	}
	return nil
}
