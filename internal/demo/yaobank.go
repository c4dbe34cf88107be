package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// YAOBank ("Yet Another Online Bank") is the CalicoCon sample application: customer
// serves a web page with a name and a balance it gets from summary over HTTP, and summary
// reads them from database. Each tier reaches the next by service name.

// Account is what database serves and summary passes on.
type Account struct {
	Name    string `json:"name"`
	Balance string `json:"balance"`
	// Database and Summary are the host names of the pods that served it.
	Database string `json:"database,omitempty"`
	Summary  string `json:"summary,omitempty"`
}

// TheAccount is the one account of the bank.
var TheAccount = Account{Name: "Spike Curtis", Balance: "2,000.00"}

// YAOBank roles.
const (
	RoleCustomer = "customer"
	RoleSummary  = "summary"
	RoleDatabase = "database"
)

// Upstream defaults: by service name, resolved through the cluster DNS.
const (
	DefaultSummaryURL  = "http://summary"
	DefaultDatabaseURL = "http://database:2379"
)

// UpstreamTimeout bounds every call to the next tier.
const UpstreamTimeout = 2 * time.Second

func healthz(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// DatabaseHandler serves the account at GET /account, and the whole store at GET /v2/keys
// in the shape of etcd's v2 keys API (the deck's database is an etcd): what an attacker who
// reaches the database directly, bypassing summary, can read.
func DatabaseHandler(hostname string) http.Handler {
	mux := http.NewServeMux()
	healthz(mux)
	mux.HandleFunc("GET /account", func(w http.ResponseWriter, _ *http.Request) {
		a := TheAccount
		a.Database = hostname
		writeJSON(w, http.StatusOK, a)
	})
	mux.HandleFunc("GET /v2/keys", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, etcdKeys(TheAccount))
	})
	return mux
}

// etcdNode is a node of etcd's v2 keys API: a directory of nodes, or a key with a value.
type etcdNode struct {
	Key   string     `json:"key,omitempty"`
	Value string     `json:"value,omitempty"`
	Dir   bool       `json:"dir,omitempty"`
	Nodes []etcdNode `json:"nodes,omitempty"`
}

// etcdKeys lists the bank's data as etcd v2 answers GET /v2/keys?recursive=true.
func etcdKeys(a Account) any {
	dir := "/accounts/" + strings.ReplaceAll(strings.ToLower(a.Name), " ", "-")
	return struct {
		Action string   `json:"action"`
		Node   etcdNode `json:"node"`
	}{"get", etcdNode{Dir: true, Nodes: []etcdNode{{Key: "/accounts", Dir: true, Nodes: []etcdNode{{Key: dir, Dir: true, Nodes: []etcdNode{
		{Key: dir + "/balance", Value: a.Balance},
		{Key: dir + "/name", Value: a.Name},
	}}}}}}}
}

// fetchAccount GETs upstream/account.
func fetchAccount(ctx context.Context, client *http.Client, upstream string) (Account, error) {
	ctx, cancel := context.WithTimeout(ctx, UpstreamTimeout)
	defer cancel()
	url := strings.TrimRight(upstream, "/") + "/account"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return Account{}, fmt.Errorf("get %s: %w", url, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return Account{}, fmt.Errorf("get %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return Account{}, fmt.Errorf("get %s: status %d: %s", url, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	var a Account
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		return Account{}, fmt.Errorf("get %s: decode: %w", url, err)
	}
	return a, nil
}

// SummaryHandler serves GET /account: the database's account, marked with this host.
func SummaryHandler(hostname, databaseURL string, client *http.Client) http.Handler {
	mux := http.NewServeMux()
	healthz(mux)
	mux.HandleFunc("GET /account", func(w http.ResponseWriter, r *http.Request) {
		a, err := fetchAccount(r.Context(), client, databaseURL)
		if err != nil {
			writeJSON(w, http.StatusBadGateway, map[string]string{"error": "database: " + err.Error(), "summary": hostname})
			return
		}
		a.Summary = hostname
		writeJSON(w, http.StatusOK, a)
	})
	return mux
}

var customerPage = template.Must(template.New("customer").Parse(`<!DOCTYPE html>
<html>
<head><title>YAO Bank</title></head>
<body>
<h1>Welcome to YAO Bank</h1>
{{if .Err}}<p class="error">Error: {{.Err}}</p>
{{else}}<p>Name: <span id="name">{{.Account.Name}}</span></p>
<p>Balance: <span id="balance">{{.Account.Balance}}</span></p>
<p class="via">customer {{.Customer}}, summary {{.Account.Summary}}, database {{.Account.Database}}</p>
{{end}}</body>
</html>
`))

// CustomerHandler serves the bank's page at GET /: the account from summary, or the
// error and status 502 when summary does not answer.
func CustomerHandler(hostname, summaryURL string, client *http.Client) http.Handler {
	mux := http.NewServeMux()
	healthz(mux)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		a, err := fetchAccount(r.Context(), client, summaryURL)
		data := struct {
			Account  Account
			Customer string
			Err      string
		}{Account: a, Customer: hostname}
		code := http.StatusOK
		if err != nil {
			data.Err, code = "summary: "+err.Error(), http.StatusBadGateway
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(code)
		_ = customerPage.Execute(w, data)
	})
	return mux
}

// YAOBankHandler returns the handler of a role; upstream is the next tier's URL (empty:
// the default).
func YAOBankHandler(role, hostname, upstream string) (http.Handler, error) {
	client := &http.Client{Timeout: UpstreamTimeout}
	switch role {
	case RoleDatabase:
		return DatabaseHandler(hostname), nil
	case RoleSummary:
		if upstream == "" {
			upstream = DefaultDatabaseURL
		}
		return SummaryHandler(hostname, upstream, client), nil
	case RoleCustomer:
		if upstream == "" {
			upstream = DefaultSummaryURL
		}
		return CustomerHandler(hostname, upstream, client), nil
	}
	return nil, fmt.Errorf("unknown yaobank role %q: use customer, summary or database", role)
}

// ServeYAOBank serves one role on port until ctx ends.
func ServeYAOBank(ctx context.Context, role string, port int, upstream string, log *slog.Logger) error {
	h, err := YAOBankHandler(role, Hostname(), upstream)
	if err != nil {
		return err
	}
	return serve(ctx, port, h, log.With("yaobank", role))
}
