// The web UI (static-web/) on Azure Static Web Apps, with the function app linked as its
// /api backend (Standard SKU: linked backends need it).
param name string
param location string
param tags object
param functionAppId string
param functionAppLocation string

resource site 'Microsoft.Web/staticSites@2023-12-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': 'web' })
  sku: { name: 'Standard', tier: 'Standard' }
  properties: {
    // Deployed by azd (no GitHub workflow of its own).
    provider: 'Custom'
    allowConfigFileUpdates: true
    stagingEnvironmentPolicy: 'Enabled'
  }
}

resource backend 'Microsoft.Web/staticSites/linkedBackends@2023-12-01' = {
  parent: site
  name: 'api'
  properties: {
    backendResourceId: functionAppId
    region: functionAppLocation
  }
}

output id string = site.id
output name string = site.name
output uri string = 'https://${site.properties.defaultHostname}'
