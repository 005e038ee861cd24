// The web UI (static-web/) on Azure Static Web Apps, behind its Entra ID sign-in. It has
// no linked backend: the page calls the function app's own URL (scripts/build_web.py
// writes it into the deployed copy) with an API key, and the function app allows this
// site's origin by CORS. The Free plan is enough: the sign-in uses the pre-configured
// Entra ID provider, and no linked backend (a Standard feature) is used.
param name string
param location string
param tags object

resource site 'Microsoft.Web/staticSites@2023-12-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': 'web' })
  sku: { name: 'Free', tier: 'Free' }
  properties: {
    // Deployed by azd (no GitHub workflow of its own).
    provider: 'Custom'
    allowConfigFileUpdates: true
    stagingEnvironmentPolicy: 'Enabled'
  }
}

output id string = site.id
output name string = site.name
output uri string = 'https://${site.properties.defaultHostname}'
