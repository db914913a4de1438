// Times porcupine on register histories written as Jepsen etcd-test log lines
// (those raftlab generates with checker/examples/jepsen_histories.rs), with a
// register model written here. See BENCHMARKS.md (issue 20) for how it is run.
package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

type in struct {
	kind byte // 'r', 'w', 'c'
	a, b int
}

type out struct {
	unknown bool
	ok      bool // a cas that found its value
	isNil   bool // a read of nil
	value   int
}

const nilValue = -1

func num(s string) int {
	if s == "nil" {
		return nilValue
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		panic("bad value " + s)
	}
	return n
}

var model = porcupine.Model{
	Init: func() interface{} { return nilValue },
	Step: func(state, input, output interface{}) (bool, interface{}) {
		s := state.(int)
		i := input.(in)
		o := output.(out)
		switch i.kind {
		case 'r':
			return o.unknown || (o.isNil && s == nilValue) || (!o.isNil && s == o.value), s
		case 'w':
			return true, i.a
		default:
			next := s
			if s == i.a {
				next = i.b
			}
			if o.unknown {
				return true, next
			}
			return o.ok == (s == i.a), next
		}
	},
	Hash: func(state interface{}) uint64 { return uint64(state.(int) + 1) },
}

func parse(path string) []porcupine.Event {
	f, err := os.Open(path)
	if err != nil {
		panic(err)
	}
	defer f.Close()
	var events []porcupine.Event
	open := map[int]int{}
	id := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		at := strings.Index(line, "jepsen.util - ")
		if at < 0 {
			continue
		}
		fields := strings.SplitN(line[at+len("jepsen.util - "):], "\t", 4)
		if len(fields) < 4 || strings.HasPrefix(fields[0], ":") {
			continue
		}
		proc, _ := strconv.Atoi(fields[0])
		kind, f, value := fields[1], fields[2], strings.TrimSpace(fields[3])
		if kind == ":invoke" {
			var input in
			switch f {
			case ":read":
				input = in{kind: 'r'}
			case ":write":
				input = in{kind: 'w', a: num(value)}
			default:
				parts := strings.Fields(strings.Trim(value, "[]"))
				input = in{kind: 'c', a: num(parts[0]), b: num(parts[1])}
			}
			events = append(events, porcupine.Event{ClientId: proc, Kind: porcupine.CallEvent, Value: input, Id: id})
			open[proc] = id
			id++
			continue
		}
		if kind == ":info" {
			continue // stays open: unknown outcome
		}
		match := open[proc]
		delete(open, proc)
		var o out
		switch {
		case kind == ":fail" && f == ":read":
			o = out{unknown: true} // a read that timed out tells nothing
		case f == ":read":
			o = out{isNil: value == "nil", value: num(value)}
		case f == ":cas":
			o = out{ok: kind == ":ok"}
		}
		events = append(events, porcupine.Event{ClientId: proc, Kind: porcupine.ReturnEvent, Value: o, Id: match})
	}
	for proc, match := range open {
		events = append(events, porcupine.Event{ClientId: proc, Kind: porcupine.ReturnEvent, Value: out{unknown: true}, Id: match})
	}
	return events
}

func main() {
	timeout := 60 * time.Second
	if s := os.Getenv("TIMEOUT"); s != "" {
		secs, _ := strconv.Atoi(s)
		timeout = time.Duration(secs) * time.Second
	}
	total := time.Duration(0)
	slowest := time.Duration(0)
	results := map[porcupine.CheckResult]int{}
	for _, path := range os.Args[1:] {
		events := parse(path)
		start := time.Now()
		res := porcupine.CheckEventsTimeout(model, events, timeout)
		took := time.Since(start)
		total += took
		if took > slowest {
			slowest = took
		}
		results[res]++
		if os.Getenv("VERBOSE") != "" {
			fmt.Printf("%s: %s in %.2f ms\n", path, res, float64(took.Microseconds())/1000)
		}
	}
	fmt.Printf("porcupine: %d histories, %v: total %.1f ms, slowest %.1f ms\n", len(os.Args)-1, results, float64(total.Microseconds())/1000, float64(slowest.Microseconds())/1000)
}
