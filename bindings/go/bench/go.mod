module github.com/allot/allot/bindings/go/bench

go 1.22

require github.com/allot/allot/bindings/go v0.0.0

replace github.com/allot/allot/bindings/go => ../
