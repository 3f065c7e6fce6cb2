package crit

import (
	"bytes"
	"fmt"
	"strconv"

	"google.golang.org/protobuf/proto"

	"github.com/criugo/criugo/pkg/image"
)

// ImageToNode converts a decoded image to crit's JSON:
//
//	{"magic": "<NAME>", "entries": [<entry>, ...]}
//
// Each entry is the message's fields (MessageToNode), then "extra" for the
// entries that carry a payload, shown as crit shows it: base64 text for
// pipe, FIFO, socket-queue, ghost-file, shm and bpf-map data; {"inq",
// "outq"} for TCP_STREAM; the list of values for IPCNS_SEM; for IPCNS_MSG a
// list alternating each message's header (never pretty) and its base64 data.
// With noPayload, payloads are summarised as crit show --nopl does.
func ImageToNode(img *image.Image, pretty, noPayload bool) (*Node, error) {
	root := NewObject()
	root.Set("magic", NewString(img.Kind.Name))
	entries := &Node{Kind: Array, Elems: make([]*Node, 0, len(img.Entries))}
	for i, e := range img.Entries {
		n, err := MessageToNode(e.Msg.ProtoReflect(), pretty)
		if err != nil {
			return nil, fmt.Errorf("convert %s entry %d: %w", img.Kind.Name, i, err)
		}
		if e.Extra != nil {
			var extra *Node
			if noPayload {
				extra, err = payloadSummary(img.Kind, e)
			} else {
				extra, err = extraToNode(img.Kind, e.Extra)
			}
			if err != nil {
				return nil, fmt.Errorf("convert %s entry %d payload: %w", img.Kind.Name, i, err)
			}
			if extra != nil {
				n.Set("extra", extra)
			}
		}
		entries.Elems = append(entries.Elems, n)
	}
	root.Set("entries", entries)
	return root, nil
}

func extraToNode(k *image.Kind, ex *image.Extra) (*Node, error) {
	switch k.Name {
	case "TCP_STREAM":
		obj := NewObject()
		obj.Set("inq", NewString(encodeBase64(ex.InQ)))
		obj.Set("outq", NewString(encodeBase64(ex.OutQ)))
		return obj, nil
	case "IPCNS_SEM":
		arr := &Node{Kind: Array, Elems: make([]*Node, len(ex.Sems))}
		for i, v := range ex.Sems {
			arr.Elems[i] = NewUint(uint64(v))
		}
		return arr, nil
	case "IPCNS_MSG":
		arr := &Node{Kind: Array, Elems: make([]*Node, 0, 2*len(ex.Msgs))}
		for _, m := range ex.Msgs {
			hdr, err := MessageToNode(m.Hdr.ProtoReflect(), false)
			if err != nil {
				return nil, err
			}
			arr.Elems = append(arr.Elems, hdr, NewString(encodeBase64(m.Data)))
		}
		return arr, nil
	}
	return NewString(encodeBase64(ex.Data)), nil
}

// payloadSummary is crit show --nopl's "... <size>" in place of a payload.
// crit prints no extra at all for ghost files in that mode, and counts a
// message queue as its headers' and messages' sizes.
func payloadSummary(k *image.Kind, e image.Entry) (*Node, error) {
	var size uint64
	ex := e.Extra
	switch k.Name {
	case "GHOST_FILE":
		return nil, nil
	case "TCP_STREAM":
		size = uint64(len(ex.InQ) + len(ex.OutQ))
	case "IPCNS_SEM":
		size = 2 * uint64(len(ex.Sems))
	case "IPCNS_MSG":
		for _, m := range ex.Msgs {
			size += uint64(proto.Size(m.Hdr) + len(m.Data))
		}
	case "IPCNS_SHM":
		// crit reports the segment size even when the data is in pagemaps.
		size = uint64(intByName(e.Msg.ProtoReflect(), "size"))
	default:
		size = uint64(len(ex.Data))
	}
	return NewString("... <" + humanSize(size) + ">"), nil
}

// humanSize is crit's human_readable(): 1024-based units, a whole number
// without decimals, otherwise one decimal.
func humanSize(n uint64) string {
	num := float64(n)
	for _, unit := range []string{"", "K", "M", "G", "T", "P", "E", "Z"} {
		if num < 1024 {
			if num == float64(int64(num)) {
				return strconv.FormatInt(int64(num), 10) + unit + "B"
			}
			return strconv.FormatFloat(num, 'f', 1, 64) + unit + "B"
		}
		num /= 1024
	}
	return strconv.FormatFloat(num, 'f', 1, 64) + "YB"
}

// NodeToImage converts crit's JSON back to an image (pycriu's dump): the
// magic names the kind, each entry becomes the kind's message (the head
// message for the first entry of PAGEMAP and GHOST_FILE) and its "extra"
// the payload. Errors name the JSON path and position of the bad value.
func NodeToImage(n *Node) (*image.Image, error) {
	if n.Kind != Object {
		return nil, pathError("", n, ErrType, "expecting an object with \"magic\" and \"entries\", got a %s", n.Kind)
	}
	var magicNode, entriesNode *Node
	for i, key := range n.Keys {
		switch key {
		case "magic":
			magicNode = n.Vals[i]
		case "entries":
			entriesNode = n.Vals[i]
		default:
			return nil, pathError(key, n.Vals[i], ErrUnknownField, "an image has only \"magic\" and \"entries\"")
		}
	}
	if magicNode == nil {
		return nil, pathError("", n, ErrType, "missing \"magic\"")
	}
	if magicNode.Kind != String {
		return nil, pathError("magic", magicNode, ErrType, "expecting a string, got a %s", magicNode.Kind)
	}
	k := image.KindByName(magicNode.Str)
	if k == nil || k.Raw() {
		return nil, pathError("magic", magicNode, ErrUnknownMagic, "%q", magicNode.Str)
	}
	if entriesNode == nil {
		return nil, pathError("", n, ErrType, "missing \"entries\"")
	}
	if entriesNode.Kind != Array {
		return nil, pathError("entries", entriesNode, ErrType, "expecting a list, got a %s", entriesNode.Kind)
	}
	img := &image.Image{Kind: k, Entries: make([]image.Entry, 0, len(entriesNode.Elems))}
	for i, en := range entriesNode.Elems {
		path := "entries[" + strconv.Itoa(i) + "]"
		e, err := nodeToEntry(k, i, en, path)
		if err != nil {
			return nil, err
		}
		img.Entries = append(img.Entries, e)
	}
	return img, nil
}

func nodeToEntry(k *image.Kind, i int, n *Node, path string) (image.Entry, error) {
	if n.Kind != Object {
		return image.Entry{}, pathError(path, n, ErrType, "expecting an object, got a %s", n.Kind)
	}
	name := k.Message
	if i == 0 && k.Head != "" {
		name = k.Head
	}
	msg, err := image.NewMessage(name)
	if err != nil {
		return image.Entry{}, err
	}
	fields := &Node{Kind: Object, Line: n.Line, Col: n.Col}
	var extraNode *Node
	for j, key := range n.Keys {
		if key == "extra" && k.HasPayload() {
			extraNode = n.Vals[j]
			continue
		}
		fields.Set(key, n.Vals[j])
	}
	if err := NodeToMessage(fields, msg.ProtoReflect(), path); err != nil {
		return image.Entry{}, err
	}
	// A missing payload is an empty one, as in crit.
	e := image.Entry{Msg: msg}
	if extraNode != nil {
		if e.Extra, err = nodeToExtra(k, extraNode, path+".extra"); err != nil {
			return image.Entry{}, err
		}
	}
	return e, nil
}

func base64Node(n *Node, path string) ([]byte, error) {
	if n.Kind != String {
		return nil, pathError(path, n, ErrType, "expecting base64 text, got a %s", n.Kind)
	}
	b, err := decodeBase64(n.Str)
	if err != nil {
		return nil, pathError(path, n, ErrValue, "%v", err)
	}
	return b, nil
}

func nodeToExtra(k *image.Kind, n *Node, path string) (*image.Extra, error) {
	switch k.Name {
	case "TCP_STREAM":
		if n.Kind != Object {
			return nil, pathError(path, n, ErrType, "expecting an object with \"inq\" and \"outq\", got a %s", n.Kind)
		}
		ex := &image.Extra{}
		for i, key := range n.Keys {
			b, err := base64Node(n.Vals[i], path+"."+key)
			if err != nil {
				return nil, err
			}
			switch key {
			case "inq":
				ex.InQ = b
			case "outq":
				ex.OutQ = b
			default:
				return nil, pathError(path+"."+key, n.Vals[i], ErrUnknownField, "a TCP stream payload has only \"inq\" and \"outq\"")
			}
		}
		return ex, nil
	case "IPCNS_SEM":
		if n.Kind != Array {
			return nil, pathError(path, n, ErrType, "expecting a list of semaphore values, got a %s", n.Kind)
		}
		ex := &image.Extra{Sems: make([]uint16, len(n.Elems))}
		for i, e := range n.Elems {
			epath := path + "[" + strconv.Itoa(i) + "]"
			if e.Kind != Number {
				return nil, pathError(epath, e, ErrType, "expecting a number, got a %s", e.Kind)
			}
			v, err := strconv.ParseUint(e.Str, 10, 16)
			if err != nil {
				return nil, pathError(epath, e, ErrValue, "semaphore value %s is not a u16", e.Str)
			}
			ex.Sems[i] = uint16(v)
		}
		return ex, nil
	case "IPCNS_MSG":
		if n.Kind != Array {
			return nil, pathError(path, n, ErrType, "expecting a list of message headers and data, got a %s", n.Kind)
		}
		if len(n.Elems)%2 != 0 {
			return nil, pathError(path, n, ErrValue, "odd length %d: each message is a header and its data", len(n.Elems))
		}
		ex := &image.Extra{}
		for i := 0; i < len(n.Elems); i += 2 {
			hdr, err := image.NewMessage("criu.ipc_msg")
			if err != nil {
				return nil, err
			}
			if err := NodeToMessage(n.Elems[i], hdr.ProtoReflect(), path+"["+strconv.Itoa(i)+"]"); err != nil {
				return nil, err
			}
			data, err := base64Node(n.Elems[i+1], path+"["+strconv.Itoa(i+1)+"]")
			if err != nil {
				return nil, err
			}
			ex.Msgs = append(ex.Msgs, image.IPCMsg{Hdr: hdr, Data: data})
		}
		return ex, nil
	}
	b, err := base64Node(n, path)
	if err != nil {
		return nil, err
	}
	return &image.Extra{Data: b}, nil
}

// EncodeJSON converts crit's JSON text to image bytes (crit encode).
// Nothing is returned unless every entry converts and fits its image: an
// error names the JSON path and line of the bad value, or the entry the
// image writer refused.
func EncodeJSON(data []byte) ([]byte, error) {
	n, err := ParseJSON(data)
	if err != nil {
		return nil, err
	}
	img, err := NodeToImage(n)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	w, err := image.NewWriter(&buf, img.Kind)
	if err != nil {
		return nil, err
	}
	entries := n.Get("entries")
	for i, e := range img.Entries {
		if err := w.Write(e); err != nil {
			return nil, &PathError{Path: "entries[" + strconv.Itoa(i) + "]",
				Line: entries.Elems[i].Line, Col: entries.Elems[i].Col, Err: err}
		}
	}
	return buf.Bytes(), nil
}
