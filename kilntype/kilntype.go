// Package kilntype holds the types shared by Kiln's client, its engine, its
// stores, the dashboard and the CLI: the job row, job states, attempts and
// sentinel errors. It imports nothing from Kiln, so every other package can
// import it without cycles (the role rivertype plays for River).
package kilntype
