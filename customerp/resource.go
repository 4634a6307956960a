package customerp

import "fmt"

// Resource names one collection of the CustomERP API, as it appears in the URL path.
type Resource string

// The resources of the contract.
const (
	Customers  Resource = "customers"
	Contacts   Resource = "contacts"
	Products   Resource = "products"
	Orders     Resource = "orders"
	OrderLines Resource = "order-lines"
)

// Resources returns every resource of the contract, parents before children.
func Resources() []Resource {
	return []Resource{Customers, Contacts, Products, Orders, OrderLines}
}

// Valid reports whether r is one of the contract's resources.
func (r Resource) Valid() bool {
	switch r {
	case Customers, Contacts, Products, Orders, OrderLines:
		return true
	}
	return false
}

// ParseResource returns the Resource named s, or an error naming s.
func ParseResource(s string) (Resource, error) {
	r := Resource(s)
	if !r.Valid() {
		return "", fmt.Errorf("customerp: unknown resource %q", s)
	}
	return r, nil
}

// Filters returns the look-up query parameters of `GET /<r>` (besides limit and after), as
// openapi.yaml lists them, sorted.
func (r Resource) Filters() []string {
	info, err := loadSchemaInfo()
	if err != nil {
		return nil
	}
	return append([]string(nil), info.filters[r]...)
}
