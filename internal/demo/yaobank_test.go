package demo

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestYAOBankChain(t *testing.T) {
	db := httptest.NewServer(DatabaseHandler("database-0"))
	defer db.Close()
	sum := httptest.NewServer(SummaryHandler("summary-1", db.URL, &http.Client{Timeout: UpstreamTimeout}))
	defer sum.Close()
	cust := httptest.NewServer(CustomerHandler("customer-0", sum.URL, &http.Client{Timeout: UpstreamTimeout}))
	defer cust.Close()

	code, body := get(t, cust.URL+"/")
	if code != http.StatusOK {
		t.Fatalf("status %d, body %s", code, body)
	}
	for _, want := range []string{`<span id="name">Spike Curtis</span>`, `<span id="balance">2,000.00</span>`,
		"customer customer-0, summary summary-1, database database-0"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q:\n%s", want, body)
		}
	}
	if code, _ := get(t, cust.URL+"/healthz"); code != http.StatusOK {
		t.Errorf("healthz status %d", code)
	}

	db.Close() // the database goes away: summary and the page report it
	code, body = get(t, sum.URL+"/account")
	if code != http.StatusBadGateway || !strings.Contains(body, "database: get") {
		t.Errorf("summary without database: status %d body %s", code, body)
	}
	code, body = get(t, cust.URL+"/")
	if code != http.StatusBadGateway || !strings.Contains(body, `class="error"`) || strings.Contains(body, "Spike Curtis") {
		t.Errorf("customer without database: status %d body %s", code, body)
	}
}

func TestYAOBankHandlerRoles(t *testing.T) {
	for _, role := range []string{RoleCustomer, RoleSummary, RoleDatabase} {
		if _, err := YAOBankHandler(role, "h", ""); err != nil {
			t.Errorf("role %s: %v", role, err)
		}
	}
	if _, err := YAOBankHandler("teller", "h", ""); err == nil {
		t.Error("unknown role accepted")
	}
}

func TestDatabaseKeys(t *testing.T) {
	db := httptest.NewServer(DatabaseHandler("database-0"))
	defer db.Close()
	code, body := get(t, db.URL+"/v2/keys?recursive=true")
	if code != http.StatusOK {
		t.Fatalf("status %d, body %s", code, body)
	}
	for _, want := range []string{`"key":"/accounts/spike-curtis/balance","value":"2,000.00"`, `"value":"Spike Curtis"`} {
		if !strings.Contains(body, want) {
			t.Errorf("keys lack %s:\n%s", want, body)
		}
	}
}
