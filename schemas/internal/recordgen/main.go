package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

func main() {
	root := flag.String("root", "..", "the repository root (go generate runs in schemas)")
	flag.Parse()
	files, err := generate()
	if err != nil {
		fmt.Fprintln(os.Stderr, "recordgen:", err)
		os.Exit(1)
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(*root, filepath.FromSlash(f.path)), f.text, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "recordgen:", err)
			os.Exit(1)
		}
	}
}
