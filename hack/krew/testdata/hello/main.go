// Command hello stands in for kubectl-zt in the generator's test: it builds in a second
// for every platform.
package main

import "fmt"

func main() { fmt.Println("kubectl-zt stand-in") }
