package stream

import (
	"strconv"
	"testing"
)

// BenchmarkNotifierWake is the wake-up hot path: a sync registers, a
// write wakes it, while others are waiting for other users.
func BenchmarkNotifierWake(b *testing.B) {
	for _, waiting := range []int{0, 1000, 10000} {
		b.Run("others_waiting="+strconv.Itoa(waiting), func(b *testing.B) {
			n := NewNotifier()
			for i := range waiting {
				_, cancel := n.Listen("@other" + strconv.Itoa(i) + ":bench")
				defer cancel()
			}
			b.ReportAllocs()
			for b.Loop() {
				ch, cancel := n.Listen("@me:bench")
				n.Wake("@me:bench", "@nobody:bench")
				<-ch
				cancel()
			}
		})
	}
}

// BenchmarkNotifierFanOut wakes the 50 members of a care-team room, each
// with a waiting sync.
func BenchmarkNotifierFanOut(b *testing.B) {
	n := NewNotifier()
	users := make([]string, 50)
	for i := range users {
		users[i] = "@member" + strconv.Itoa(i) + ":bench"
	}
	chans := make([]<-chan struct{}, len(users))
	b.ReportAllocs()
	for b.Loop() {
		for i, u := range users {
			chans[i], _ = n.Listen(u)
		}
		n.Wake(users...)
		for _, ch := range chans {
			<-ch
		}
	}
}

// BenchmarkNotifierParallel has writers waking and syncs listening from
// every core at once, as under load.
func BenchmarkNotifierParallel(b *testing.B) {
	n := NewNotifier()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			u := "@u" + strconv.Itoa(i%64) + ":bench"
			_, cancel := n.Listen(u)
			n.Wake(u)
			cancel()
		}
	})
}
