module github.com/criugo/criugo/test/gocriu

go 1.26.8

require (
	github.com/checkpoint-restore/go-criu/v7 v7.2.0
	google.golang.org/protobuf v1.34.2
)
