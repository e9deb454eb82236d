package deliver

import (
	"context"
	"errors"
	"sync"
)

// Dispatcher runs one Worker per enabled sink.
type Dispatcher struct {
	workers []*Worker
}

// New returns a dispatcher over workers.
func New(workers ...*Worker) *Dispatcher {
	return &Dispatcher{workers: workers}
}

// Run runs every worker until ctx is cancelled and all have finished their
// in-flight deliveries. If one fails, the others are stopped; the errors are
// joined.
func (d *Dispatcher) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, w := range d.workers {
		wg.Go(func() {
			if err := w.Run(ctx); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
				cancel()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Wake tells every worker rows may be due; it never blocks.
func (d *Dispatcher) Wake() {
	for _, w := range d.workers {
		w.Wake()
	}
}

// Status is every worker's status, in the order given to New.
func (d *Dispatcher) Status() []Status {
	st := make([]Status, len(d.workers))
	for i, w := range d.workers {
		st[i] = w.Status()
	}
	return st
}

// Workers are the dispatcher's workers, e.g. to SetSink one after a reload.
func (d *Dispatcher) Workers() []*Worker { return d.workers }
