// A Hookline webhook receiver in Go (standard library only).
//
//	SECRET='a-long-shared-secret' PORT=8000 go run examples/receivers/go_receiver.go
//
// Point a webhook at http://<this host>:8000/hookline. It answers 200 to a delivery whose
// signature is valid (and to a repeat of one it has already seen), 401 when the signature is
// missing or wrong, and does the real work after answering. It prints one line per verified
// delivery.
package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strings"
	"sync"
)

const maxBody = 2 << 20 // Hookline refuses events over 1 MiB

type event struct {
	ID         string          `json:"id"`
	Event      string          `json:"event"`
	CreatedAt  string          `json:"createdAt"`
	ClientCuid *string         `json:"clientCuid"`
	Data       json.RawMessage `json:"data"`
}

type receiver struct {
	secret []byte
	mu     sync.Mutex
	// Delivery ids already accepted. In production use your database: a unique constraint
	// on the delivery id, written in the same transaction as the work it triggers.
	seen map[string]bool
	work chan func()
}

// signatureIsValid checks the hex HMAC-SHA256 of the raw body in constant time.
func (r *receiver) signatureIsValid(body []byte, header string) bool {
	given, err := hex.DecodeString(strings.TrimSpace(header))
	if err != nil || len(given) != sha256.Size {
		return false
	}
	mac := hmac.New(sha256.New, r.secret)
	mac.Write(body)
	return hmac.Equal(mac.Sum(nil), given)
}

// firstTime records a delivery id; false if it was accepted before.
func (r *receiver) firstTime(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen[id] {
		return false
	}
	r.seen[id] = true
	return true
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost || req.URL.Path != "/hookline" {
		http.NotFound(w, req)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, maxBody))
	if err != nil { // the raw bytes: verify BEFORE parsing
		http.Error(w, "cannot read body", http.StatusRequestEntityTooLarge)
		return
	}
	if !r.signatureIsValid(body, req.Header.Get("X-Authorization-HMAC-256")) {
		fmt.Println("rejected: invalid or missing signature")
		http.Error(w, "invalid signature", http.StatusUnauthorized)
		return
	}
	deliveryID := req.Header.Get("X-Hookline-Delivery")
	if !r.firstTime(deliveryID) {
		fmt.Fprintln(w, "duplicate") // a retry of something already accepted
		return
	}
	var payload event
	if err := json.Unmarshal(body, &payload); err != nil {
		http.Error(w, "not JSON", http.StatusBadRequest)
		return
	}
	// Queue the real work and answer at once: Hookline waits 5 seconds at most.
	r.work <- func() {
		fmt.Printf("verified %s %s %s data=%s\n", deliveryID, payload.Event, payload.ID, payload.Data)
	}
	fmt.Fprintln(w, "ok")
}

func main() {
	secret := os.Getenv("SECRET")
	if secret == "" {
		log.Fatal("set SECRET to the webhook's secret")
	}
	port := os.Getenv("PORT")
	if port == "" {
		port = "8000"
	}
	r := &receiver{secret: []byte(secret), seen: map[string]bool{}, work: make(chan func(), 1000)}
	go func() {
		for job := range r.work {
			job()
		}
	}()
	fmt.Printf("listening on http://127.0.0.1:%s/hookline\n", port)
	log.Fatal(http.ListenAndServe("127.0.0.1:"+port, r))
}
