package api

import (
	"net/http"

	"github.com/novakit/novakit/placement"
)

func init() {
	addRoute("/resource_providers/{uuid}/inventories", map[string]endpoint{
		"GET":    {rule: RuleInventoriesList, h: listInventories},
		"POST":   {rule: RuleInventoriesCreate, h: createInventory},
		"PUT":    {rule: RuleInventoriesUpdate, h: replaceInventories},
		"DELETE": {min: 5, rule: RuleInventoriesDelete, h: deleteInventories},
	})
	addRoute("/resource_providers/{uuid}/inventories/{rc}", map[string]endpoint{
		"GET":    {rule: RuleInventoriesShow, h: showInventory},
		"PUT":    {rule: RuleInventoriesUpdate, h: updateInventory},
		"DELETE": {rule: RuleInventoriesDelete, h: deleteInventory},
	})
	addRoute("/resource_providers/{uuid}/usages", map[string]endpoint{
		"GET": {rule: RuleProviderUsages, h: providerUsages},
	})
}

func inventoriesJSON(invs map[string]placement.Inventory, gen int64) map[string]any {
	m := make(map[string]any, len(invs))
	for rc, inv := range invs {
		m[rc] = inventoryJSON(inv)
	}
	return map[string]any{"inventories": m, "resource_provider_generation": gen}
}

func listInventories(rq *request) error {
	u, err := rq.providerUUID()
	if err != nil {
		return err
	}
	invs, gen, err := rq.s.idx.Inventories(rq.ctx, u)
	if err != nil {
		return err
	}
	rq.ok(inventoriesJSON(invs, gen))
	return nil
}

// conflict wraps a stale-generation answer computed here (not by the Index).
func conflict(u string, sent, cur int64) error {
	return &httpError{status: http.StatusConflict, code: placement.CodeConcurrentUpdate,
		detail: "resource provider generation conflict: " + u + " is at a different generation than the one sent"}
}

func replaceInventories(rq *request) error {
	u, err := rq.providerUUID()
	if err != nil {
		return err
	}
	o, err := rq.bodyObject()
	if err != nil {
		return err
	}
	if err := o.only("inventories", "resource_provider_generation"); err != nil {
		return err
	}
	if err := o.require("inventories", "resource_provider_generation"); err != nil {
		return err
	}
	gen, err := o.int("resource_provider_generation", 0, 1<<62)
	if err != nil {
		return err
	}
	io, err := o.obj("inventories")
	if err != nil {
		return err
	}
	invs := map[string]placement.Inventory{}
	for _, rc := range io.keys() {
		if err := checkClass(rc, "inventories"); err != nil {
			return err
		}
		ino, err := io.obj(rc)
		if err != nil {
			return err
		}
		if invs[rc], err = inventoryOf(ino, rq.v); err != nil {
			return err
		}
	}
	ng, _, err := rq.s.idx.SetInventories(rq.ctx, u, gen, invs)
	if err != nil {
		return err
	}
	rq.json(http.StatusOK, inventoriesJSON(invs, ng), rq.s.now())
	return nil
}

func createInventory(rq *request) error {
	u, err := rq.providerUUID()
	if err != nil {
		return err
	}
	o, err := rq.bodyObject()
	if err != nil {
		return err
	}
	if err := o.require("resource_class", "resource_provider_generation"); err != nil {
		return err
	}
	rc, _, err := o.str("resource_class", false)
	if err != nil {
		return err
	}
	if err := checkClass(rc, "resource_class"); err != nil {
		return err
	}
	gen, err := o.int("resource_provider_generation", 0, 1<<62)
	if err != nil {
		return err
	}
	inv, err := inventoryOf(o, rq.v, "resource_class", "resource_provider_generation")
	if err != nil {
		return err
	}
	invs, cur, err := rq.s.idx.Inventories(rq.ctx, u)
	if err != nil {
		return err
	}
	if cur != gen {
		return conflict(u, gen, cur)
	}
	if _, ok := invs[rc]; ok {
		return &httpError{status: http.StatusConflict, detail: "Update conflict: inventory for " + rc + " on resource provider " + u + " already exists."}
	}
	invs[rc] = inv
	ng, _, err := rq.s.idx.SetInventories(rq.ctx, u, gen, invs)
	if err != nil {
		return err
	}
	out := inventoryJSON(inv)
	out["resource_provider_generation"] = ng
	rq.w.Header().Set("Location", "/resource_providers/"+u+"/inventories/"+rc)
	rq.json(http.StatusCreated, out, rq.s.now())
	return nil
}

func deleteInventories(rq *request) error {
	u, err := rq.providerUUID()
	if err != nil {
		return err
	}
	_, gen, err := rq.s.idx.Inventories(rq.ctx, u)
	if err != nil {
		return err
	}
	if _, _, err := rq.s.idx.SetInventories(rq.ctx, u, gen, map[string]placement.Inventory{}); err != nil {
		return err
	}
	rq.noContent(http.StatusNoContent)
	return nil
}

func (rq *request) classParam() (string, error) {
	rc := rq.params["rc"]
	if placement.ValidateResourceClassName(rc) != nil {
		return "", badRequest("invalid resource class %q", rc)
	}
	return rc, nil
}

func showInventory(rq *request) error {
	u, err := rq.providerUUID()
	if err != nil {
		return err
	}
	rc, err := rq.classParam()
	if err != nil {
		return err
	}
	invs, gen, err := rq.s.idx.Inventories(rq.ctx, u)
	if err != nil {
		return err
	}
	inv, ok := invs[rc]
	if !ok {
		return errorf(http.StatusNotFound, "No inventory of class %s for %s", rc, u)
	}
	out := inventoryJSON(inv)
	out["resource_provider_generation"] = gen
	rq.ok(out)
	return nil
}

func updateInventory(rq *request) error {
	u, err := rq.providerUUID()
	if err != nil {
		return err
	}
	rc, err := rq.classParam()
	if err != nil {
		return err
	}
	o, err := rq.bodyObject()
	if err != nil {
		return err
	}
	if err := o.require("resource_provider_generation"); err != nil {
		return err
	}
	gen, err := o.int("resource_provider_generation", 0, 1<<62)
	if err != nil {
		return err
	}
	inv, err := inventoryOf(o, rq.v, "resource_provider_generation")
	if err != nil {
		return err
	}
	invs, cur, err := rq.s.idx.Inventories(rq.ctx, u)
	if err != nil {
		return err
	}
	if cur != gen {
		return conflict(u, gen, cur)
	}
	if _, ok := invs[rc]; !ok {
		return badRequest("No inventory record with resource class %s for resource provider %s", rc, u)
	}
	invs[rc] = inv
	ng, _, err := rq.s.idx.SetInventories(rq.ctx, u, gen, invs)
	if err != nil {
		return err
	}
	out := inventoryJSON(inv)
	out["resource_provider_generation"] = ng
	rq.json(http.StatusOK, out, rq.s.now())
	return nil
}

func deleteInventory(rq *request) error {
	u, err := rq.providerUUID()
	if err != nil {
		return err
	}
	rc, err := rq.classParam()
	if err != nil {
		return err
	}
	invs, gen, err := rq.s.idx.Inventories(rq.ctx, u)
	if err != nil {
		return err
	}
	if _, ok := invs[rc]; !ok {
		return errorf(http.StatusNotFound, "No inventory of class %s found for delete", rc)
	}
	delete(invs, rc)
	if _, _, err := rq.s.idx.SetInventories(rq.ctx, u, gen, invs); err != nil {
		return err
	}
	rq.noContent(http.StatusNoContent)
	return nil
}

func providerUsages(rq *request) error {
	u, err := rq.providerUUID()
	if err != nil {
		return err
	}
	us, gen, err := rq.s.idx.ProviderUsages(rq.ctx, u)
	if err != nil {
		return err
	}
	rq.ok(map[string]any{"usages": us, "resource_provider_generation": gen})
	return nil
}
