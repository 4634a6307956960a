// Package domain holds what tandem's workflows, activities and sync engine
// exchange: the two sides of a pairing, link ids, changes, link states and
// outcomes, and the inputs and results of the activities. It has no
// dependencies beyond the standard library, so the engine can use it
// without Temporal and the workflows without the engine.
package domain
