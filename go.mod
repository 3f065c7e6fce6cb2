module github.com/criugo/criugo

go 1.26.8

require google.golang.org/protobuf v1.36.12

require golang.org/x/sys v0.49.0

tool google.golang.org/protobuf/cmd/protoc-gen-go
