module github.com/allot/allot/bindings/go

go 1.22
