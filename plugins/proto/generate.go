// Package pluginpb is the generated gRPC code of the plugin wire contract (plugin.proto).
package pluginpb

//go:generate protoc --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative plugin.proto
