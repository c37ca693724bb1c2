package producer

import (
	"bytes"
	_ "embed"
	"encoding/csv"
	"fmt"
	"io"
	"strings"
)

// stationsCSV is the MTA station reference (remote_booth_station.csv):
// Remote,Booth,Station,Line Name,Division, one row per booth.
//
//go:embed stations.csv
var stationsCSV []byte

// Booth is one row of the station reference: a control area (CA) of a
// station's remote unit.
type Booth struct {
	Unit     string // Remote
	CA       string // Booth
	Station  string
	LineName string
	Division string
}

// Booths returns the embedded station reference, in file order.
func Booths() ([]Booth, error) {
	return parseBooths(bytes.NewReader(stationsCSV))
}

func parseBooths(r io.Reader) ([]Booth, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = 5
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("producer: station reference: %w", err)
	}
	header[0] = strings.TrimPrefix(header[0], "\ufeff")
	if header[0] != "Remote" || header[1] != "Booth" {
		return nil, fmt.Errorf("producer: station reference: unexpected header %v", header)
	}
	var out []Booth
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("producer: station reference: %w", err)
		}
		out = append(out, Booth{
			Unit: strings.TrimSpace(rec[0]), CA: strings.TrimSpace(rec[1]), Station: strings.TrimSpace(rec[2]),
			LineName: strings.TrimSpace(rec[3]), Division: strings.TrimSpace(rec[4]),
		})
	}
}
